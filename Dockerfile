# Footnote: one image that answers from Telegram and starts offline (the model ships inside it).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock requirements-torch.lock ./
COPY config ./config
COPY index ./index
COPY bot ./bot
COPY cli ./cli
COPY docker/install.sh ./docker/install.sh
RUN TORCH_INDEX_URL="${TORCH_INDEX_URL}" sh docker/install.sh /opt/venv /src

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    FOOTNOTE_SEEDS_DIR=/data/seeds \
    FOOTNOTE_INDEX_DIR=/data/index \
    FOOTNOTE_INITIAL_SEEDS_DIR=/app/seeds
COPY --from=build /opt/venv /opt/venv
COPY seeds /app/seeds
RUN mkdir /data && chown 10001:10001 /data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 CMD ["footnote", "health"]
ENTRYPOINT ["footnote"]
CMD ["bot"]
