# wirewatch image: the `wirewatch` console script (worker, ingest, replay, demo-receiver, ...).
# Used by docker-compose.yml; e.g. `docker build -t wirewatch . && docker run --rm wirewatch --help`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
# The stage modules are compiled with mypyc, as `make install` does (scripts/compile_stages.py);
# the C compiler and mypy leave the image afterwards. The install is editable, so Python imports
# the package from /app, where the compiled modules are.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install -e . mypy lxml-stubs types-PyYAML types-tqdm "setuptools>=77" \
    && CC=gcc python scripts/compile_stages.py \
    && pip uninstall -y mypy lxml-stubs types-PyYAML types-tqdm \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* build \
    && useradd --create-home --uid 1000 wirewatch \
    && chown -R wirewatch /app

# Faust keeps its per-app data dir (table state) under the working directory.
USER wirewatch
ENTRYPOINT ["wirewatch"]
CMD ["worker"]
