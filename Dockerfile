# wirewatch image: the `wirewatch` console script (worker, ingest, replay, demo-receiver, ...).
# Used by docker-compose.yml; e.g. `docker build -t wirewatch . && docker run --rm wirewatch --help`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install . \
    && useradd --create-home --uid 1000 wirewatch \
    && chown -R wirewatch /app

# Faust keeps its per-app data dir (table state) under the working directory.
USER wirewatch
ENTRYPOINT ["wirewatch"]
CMD ["worker"]
