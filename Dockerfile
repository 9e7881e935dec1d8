# The image runs the same install path the test suite checks (tests/test_install.py):
# build the wheel, install it into a fresh virtualenv, run `scimserver serve`.
# Configuration is by environment only (SCIMSERVER_*, see the README); the data lives in
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
COPY --from=build /dist/*.whl /tmp/
RUN python -m venv /opt/scimserver \
    && /opt/scimserver/bin/pip install --no-cache-dir /tmp/*.whl \
    && rm /tmp/*.whl
ENV PATH=/opt/scimserver/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SCIMSERVER_DATABASE_URL=sqlite:////data/scimserver.db \
    SCIMSERVER_BIND=0.0.0.0:8000
USER 10001
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["scimserver", "serve"]
