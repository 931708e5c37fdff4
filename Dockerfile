# The rag API: CPU-only, models shipped inside PyPI packages (nothing is downloaded at run time).
#   docker compose up -d api            (see docker-compose.yml)
#   docker build -t rag . && docker run -p 8000:8000 -v rag-data:/data rag
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    RAG_HOST=0.0.0.0 \
    RAG_PORT=8000 \
    RAG_INDEX_DIR=/data/index \
    RAG_EMBED_CACHE_DIR=/data/embed-cache \
    RAG_SEEDS_DIR=/app/seeds

WORKDIR /app

# Tesseract with its French data: scanned PDF pages are OCRed instead of refused (build with --build-arg OCR=0 to
# leave it out: such PDFs are then refused with a message naming the pages).
ARG OCR=1
RUN if [ "$OCR" = 1 ]; then apt-get update && apt-get install -y --no-install-recommends tesseract-ocr \
    tesseract-ocr-fra && rm -rf /var/lib/apt/lists/*; fi

# CPU torch first, from PyTorch's CPU index: PyPI's default torch wheel pulls the CUDA libraries (gigabytes).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

# Dependencies before the code, so that a code change does not reinstall them. The milvus extra lets the
# compose file's `milvus` profile work (RAG_VECTOR_STORE=milvus); build with --build-arg EXTRAS= to omit it.
ARG EXTRAS=milvus
COPY pyproject.toml README.md ./
RUN mkdir -p rag index api eval && touch rag/__init__.py index/__init__.py api/__init__.py eval/__init__.py \
    && pip install ".${EXTRAS:+[$EXTRAS]}" && pip uninstall -y rag

COPY rag ./rag
COPY index ./index
COPY api ./api
COPY eval ./eval
COPY seeds ./seeds
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app rag \
    && mkdir -p /data && chown rag /data

USER rag
VOLUME ["/data"]
EXPOSE 8000

# Ready = the index is loaded (it is built from /app/seeds on first start if /data holds none).
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"

# SIGTERM drains: /ready turns 503, in-flight requests complete, then the process exits.
STOPSIGNAL SIGTERM
CMD ["rag", "serve"]
