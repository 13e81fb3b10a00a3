"""The voice pipeline: STT, retrieval, answers, LLM and TTS behind the Protocols of ``base``.

Nothing is loaded on import. ``factory`` builds each stage from settings, one module
per vendor: ``whisper`` (STT; the vendor-neutral gate is ``stt``), ``llamacpp`` and
``openai_compat`` (LLM; shared helpers in ``llm``), ``piper`` (TTS; resampling and
the fixed phrases in ``tts``), ``e5`` (embeddings) and ``qdrant`` (vector store).
``rag.open_knowledge_service`` builds the knowledge service (``rag.KnowledgeService``:
SQL rows, ``retrieval.OwnerIndex``, the embedder and the optional vector store).
``chunking`` cuts knowledge into facts, ``answer.compose`` builds the extractive
answer, ``reply.speak`` turns text (generated or composed) into audio phrase by
phrase; ``prompt.build_messages`` builds a turn's prompt. Language-specific rules
come from ``callcontrol.language``.
"""
