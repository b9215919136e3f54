# One image for the API and the workers. GPU workers: run it with the NVIDIA container runtime;
# torch from the package index is a CUDA build and falls back to the CPU when no GPU is visible.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 ARENA_VAR_DIR=/data
WORKDIR /app

# the sandbox: bubblewrap, setpriv (util-linux) and an unprivileged user for participant code
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap util-linux \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin arena-sandbox

COPY pyproject.toml README.md alembic.ini ./
COPY server ./server
COPY worker ./worker
COPY scoring ./scoring
COPY cli ./cli
COPY migrations ./migrations
COPY frontend ./frontend
COPY examples ./examples
RUN pip install -e . && mkdir -p /data

EXPOSE 8000
CMD ["arena", "serve"]
