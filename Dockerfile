# ganlab on an NVIDIA GPU:  docker build -t ganlab . && docker run --gpus all -p 7860:7860 ganlab
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GANLAB_HOST=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-pip make ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.txt
ENV PATH=/opt/venv/bin:$PATH

COPY . .
EXPOSE 7860
VOLUME ["/app/runs"]
CMD ["python", "app.py", "--host", "0.0.0.0"]
