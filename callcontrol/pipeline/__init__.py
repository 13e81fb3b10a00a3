"""The voice pipeline: STT, retrieval, LLM and TTS behind the Protocols of ``base``.

Nothing is loaded on import; build each stage from settings in the composition root
(``stt.load_whisper_stt``, ``rag.E5Embedder``/``VectorIndex``/``KnowledgeService``,
``llm.build_llm``, ``tts.load_piper_tts``). ``reply.speak`` turns an LLM reply into
audio phrase by phrase; ``prompt.build_messages`` builds a turn's prompt.
"""
