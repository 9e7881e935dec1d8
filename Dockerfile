# The image runs the same install path the test suite checks (tests/test_install.py):
# build the wheel, install requirements.lock and then the wheel into a fresh virtualenv,
# run `scimserver serve`.
# Configuration is by environment only (SCIMSERVER_*, see docs/operations.md); the data lives in
# /data. Behind a TLS-terminating proxy set SCIMSERVER_BASE_URL, or
# SCIMSERVER_TRUSTED_PROXIES to the proxy's address: forwarded headers are not trusted
# by default.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY scimserver ./scimserver
RUN pip install --no-cache-dir build==1.2.2.post1 && python -m build --wheel --outdir /dist

FROM python:3.12-slim
RUN useradd --system --create-home --home-dir /data --uid 10001 scim
# The dependencies come from requirements.lock (uv pip compile --generate-hashes, its header
# has the command; tests/ops/test_lock.py checks it matches pyproject.toml), each file
# checked against its hash; then the wheel itself, with nothing left to resolve.
COPY requirements.lock /tmp/
COPY --from=build /dist/*.whl /tmp/
RUN python -m venv /opt/scimserver \
    && /opt/scimserver/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock \
    && /opt/scimserver/bin/pip install --no-cache-dir --no-deps /tmp/*.whl \
    && /opt/scimserver/bin/pip check \
    && rm /tmp/*.whl /tmp/requirements.lock
ENV PATH=/opt/scimserver/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SCIMSERVER_DATABASE_URL=sqlite:////data/scimserver.db \
    SCIMSERVER_BIND=0.0.0.0:8000
USER 10001
WORKDIR /data
VOLUME /data
EXPOSE 8000
# The probe asks /readyz on the port serve listens on: SCIMSERVER_BIND as the container
# runs (`docker run -e SCIMSERVER_BIND=0.0.0.0:9000 -p 9000:9000 …` moves both).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; host, _, port = (os.environ.get('SCIMSERVER_BIND') or '127.0.0.1:8000').rpartition(':'); host = {'0.0.0.0': '127.0.0.1', '[::]': '[::1]', '': '127.0.0.1'}.get(host, host); urllib.request.urlopen(f'http://{host}:{port}/readyz', timeout=4)"]
CMD ["scimserver", "serve"]
