# The image runs the same install path the test suite checks (tests/test_install.py):
# build the wheel, install it into a fresh virtualenv, run `scimserver serve`.
FROM python:3.12-slim AS build
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.12-slim
RUN useradd --system --create-home --home-dir /data scim
COPY --from=build /dist/*.whl /tmp/
RUN python -m venv /opt/scimserver \
    && /opt/scimserver/bin/pip install --no-cache-dir /tmp/*.whl \
    && rm /tmp/*.whl
ENV PATH=/opt/scimserver/bin:$PATH \
    SCIMSERVER_DATABASE_URL=sqlite:////data/scimserver.db \
    SCIMSERVER_BIND=0.0.0.0:8000 \
    FORWARDED_ALLOW_IPS=*
USER scim
WORKDIR /data
VOLUME /data
EXPOSE 8000
CMD ["scimserver", "serve"]
