# syntax=docker/dockerfile:1
# The binding image: library, CLI, workers and dashboard. One Dockerfile, two builds:
#   GPU (workers):  --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128
#   CPU (dashboard): --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu
# PyTorch's CUDA wheels carry their CUDA libraries; the host needs only the NVIDIA driver
# and the NVIDIA Container Toolkit. See docs/distributed.md.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    BINDING_DATA_DIR=/data \
    BINDING_CACHE_DIR=/cache

# An unprivileged user owns the data and cache volumes.
RUN useradd --create-home --uid 10001 binding \
    && mkdir -p /data /cache /app \
    && chown binding:binding /data /cache

WORKDIR /app

# torch first: the largest layer, and the only one that differs between CPU and GPU builds.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

COPY pyproject.toml README.md ./
COPY binding ./binding
COPY workers ./workers
COPY dashboard ./dashboard
COPY .streamlit ./.streamlit
RUN pip install ".[parquet,dashboard,distributed]"

USER binding
VOLUME ["/data", "/cache"]
EXPOSE 8501
CMD ["binding", "--help"]
