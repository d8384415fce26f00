# The Guichet image: one image, two roles (`guichet api`, `guichet worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY *.py ./
COPY domain ./domain
COPY models ./models
COPY migrations ./migrations
COPY integrations ./integrations
COPY activities ./activities
COPY workflows ./workflows
COPY api ./api
COPY templates ./templates
RUN pip install . && useradd --system --uid 10001 guichet
USER guichet
EXPOSE 8000
CMD ["guichet", "api", "--host", "0.0.0.0"]
