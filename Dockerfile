# One image for the API and the workers. TORCH_INDEX_URL picks the torch build: empty (default)
# takes torch from PyPI, a CUDA build that also runs on the CPU (GPU workers); the compose file
# builds the CPU image with https://download.pytorch.org/whl/cpu (API and CPU workers).
FROM python:3.11-slim

ARG TORCH_INDEX_URL=
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 ARENA_VAR_DIR=/data
WORKDIR /app

# the sandbox: bubblewrap, setpriv and umount (util-linux, mount), libseccomp and an
# unprivileged user for participant code; pg_dump and pg_restore for `arena backup|restore`
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap util-linux mount libseccomp2 \
    postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin arena-sandbox

RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install torch --index-url "$TORCH_INDEX_URL"; fi

COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY server ./server
COPY worker ./worker
COPY scoring ./scoring
COPY cli ./cli
COPY migrations ./migrations
COPY frontend ./frontend
COPY examples ./examples
COPY docs ./docs
RUN pip install -e ".[s3]" && mkdir -p /data

EXPOSE 8000
CMD ["arena", "serve"]
