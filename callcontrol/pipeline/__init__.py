"""The voice pipeline: STT, retrieval, answers, LLM and TTS behind the Protocols of ``base``.

Nothing is loaded on import; build each stage from settings in the composition root
(``stt.load_whisper_stt``, ``rag.open_knowledge_service`` — ``e5.E5Embedder``,
``retrieval.OwnerIndex``, optionally ``qdrant.VectorIndex`` —, ``llm.build_llm``,
``tts.load_piper_tts``). ``chunking`` cuts knowledge into facts, ``answer.compose``
builds the extractive answer, ``reply.speak`` turns text (generated or composed) into
audio phrase by phrase; ``prompt.build_messages`` builds a turn's prompt.
"""
