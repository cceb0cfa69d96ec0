"""The vocabulary the synthetic catalogue draws from: tasks, libraries, licences, languages, providers.

Weights approximate the Hub's mix (text generation and feature extraction dominate; transformers is
the main library; apache-2.0 and mit lead the licences, with a long tail). They only need to be
plausible: the synthetic catalogue exists to exercise hubdex at scale with the Hub's shape.
"""

# (pipeline_tag, weight, libraries by weight, model_type choices, transformers auto class)
PIPELINES = [
    ("text-generation", 30, [("transformers", 70), ("gguf", 12), ("mlx", 6), ("peft", 8), ("vllm", 1), ("onnx", 3)],
     ["llama", "qwen2", "mistral", "gemma2", "phi3", "gpt2", "qwen3", "olmo2"], "AutoModelForCausalLM"),
    ("text-classification", 9, [("transformers", 85), ("setfit", 10), ("onnx", 5)],
     ["bert", "roberta", "distilbert", "deberta-v2", "xlm-roberta"], "AutoModelForSequenceClassification"),
    ("feature-extraction", 6, [("transformers", 50), ("sentence-transformers", 45), ("onnx", 5)],
     ["bert", "xlm-roberta", "mpnet", "nomic_bert"], "AutoModel"),
    ("sentence-similarity", 5, [("sentence-transformers", 90), ("transformers", 10)],
     ["bert", "mpnet", "xlm-roberta"], "AutoModel"),
    ("text-to-image", 7, [("diffusers", 85), ("transformers", 5), ("gguf", 10)],
     ["unet", "flux", "sd3"], None),
    ("automatic-speech-recognition", 4, [("transformers", 80), ("nemo", 10), ("espnet", 10)],
     ["whisper", "wav2vec2", "parakeet"], "AutoModelForSpeechSeq2Seq"),
    ("token-classification", 4, [("transformers", 90), ("flair", 10)],
     ["bert", "roberta", "deberta-v2"], "AutoModelForTokenClassification"),
    ("image-classification", 4, [("transformers", 60), ("timm", 40)],
     ["vit", "convnext", "resnet", "swin"], "AutoModelForImageClassification"),
    ("image-text-to-text", 4, [("transformers", 85), ("gguf", 10), ("mlx", 5)],
     ["qwen2_5_vl", "llava", "idefics3", "gemma3"], "AutoModelForImageTextToText"),
    ("text2text-generation", 3, [("transformers", 95), ("onnx", 5)],
     ["t5", "bart", "mt5", "mbart"], "AutoModelForSeq2SeqLM"),
    ("reinforcement-learning", 3, [("stable-baselines3", 70), ("ml-agents", 30)],
     ["ppo", "dqn"], None),
    ("translation", 2, [("transformers", 90), ("ctranslate2", 10)],
     ["marian", "m2m_100", "nllb-moe"], "AutoModelForSeq2SeqLM"),
    ("question-answering", 2, [("transformers", 100)],
     ["bert", "roberta", "deberta-v2"], "AutoModelForQuestionAnswering"),
    ("fill-mask", 2, [("transformers", 100)],
     ["bert", "roberta", "xlm-roberta", "camembert"], "AutoModelForMaskedLM"),
    ("summarization", 1, [("transformers", 100)],
     ["bart", "pegasus", "t5"], "AutoModelForSeq2SeqLM"),
    ("image-segmentation", 1, [("transformers", 80), ("timm", 20)],
     ["mask2former", "segformer", "sam"], "AutoModelForImageSegmentation"),
    ("object-detection", 1, [("transformers", 60), ("ultralytics", 40)],
     ["detr", "yolos", "rt_detr"], "AutoModelForObjectDetection"),
    ("text-to-speech", 1, [("transformers", 50), ("espnet", 25), ("coqui", 25)],
     ["vits", "bark", "speecht5"], "AutoModelForTextToWaveform"),
    ("zero-shot-classification", 1, [("transformers", 100)],
     ["bart", "deberta-v2"], "AutoModelForSequenceClassification"),
    ("image-to-image", 1, [("diffusers", 100)], ["unet"], None),
    ("audio-classification", 1, [("transformers", 100)], ["wav2vec2", "ast"], "AutoModelForAudioClassification"),
    ("text-to-video", 1, [("diffusers", 100)], ["wan", "ltx"], None),
    (None, 6, [("transformers", 30), (None, 50), ("pytorch", 20)], ["custom"], None),
]

CHAT_PIPELINES = {"text-generation", "image-text-to-text"}

# (licence id, weight). "other" carries a license_name / license_link in the card.
LICENSES = [
    ("apache-2.0", 34), ("mit", 16), (None, 18), ("other", 6), ("cc-by-4.0", 3), ("cc-by-nc-4.0", 3),
    ("openrail", 2), ("creativeml-openrail-m", 2), ("llama3.1", 2), ("llama3.2", 1), ("llama3", 1),
    ("llama2", 1), ("gemma", 1), ("cc-by-sa-4.0", 1), ("gpl-3.0", 1), ("bsd-3-clause", 1),
    ("openrail++", 1), ("cc-by-nc-sa-4.0", 1), ("agpl-3.0", 1), ("afl-3.0", 1), ("artistic-2.0", 1),
    ("bigscience-openrail-m", 1), ("cc0-1.0", 1), ("llama3.3", 1), ("llama4", 1), ("lgpl-3.0", 1),
    ("unlicense", 1), ("wtfpl", 1),
]

# `license: other` comes with a name and a link (docs/hub/repositories-licenses.md).
OTHER_LICENSES = [
    ("stabilityai-ai-community", "LICENSE.md"),
    ("flux-1-dev-non-commercial-license", "https://huggingface.co/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md"),
    ("qwen-research", "https://huggingface.co/Qwen/Qwen2.5-3B/blob/main/LICENSE"),
    ("deepseek", "LICENSE"),
    ("tongyi-qianwen", "https://huggingface.co/Qwen/Qwen-7B/blob/main/LICENSE"),
    ("nvidia-open-model-license", "https://developer.download.nvidia.com/licenses/nvidia-open-model-license-agreement-june-2024.pdf"),
]

LANGUAGE_SETS = [
    (), ("en",), ("en",), ("en",), ("en",), ("zh",), ("en", "zh"), ("multilingual",), ("fr",), ("de",),
    ("es",), ("ja",), ("ko",), ("ru",), ("ar",), ("en", "fr", "de", "es", "it"), ("pt",), ("hi",),
    ("vi",), ("tr",), ("id",), ("en", "de"), ("nl",), ("pl",),
]

DATASETS = [
    None, None, None, "HuggingFaceFW/fineweb", "allenai/c4", "wikitext", "squad", "glue", "imdb",
    "mozilla-foundation/common_voice_11_0", "openslr/librispeech_asr", "laion/laion2B-en",
    "HuggingFaceH4/ultrachat_200k", "teknium/OpenHermes-2.5", "Open-Orca/OpenOrca",
    "cais/mmlu", "openai/gsm8k", "conll2003", "imagenet-1k", "cityscapes", "coco",
]

# huggingface_hub 2.4.0 PROVIDER_T, with an input / output price in USD per million tokens for the
# router catalogue (None: the provider quotes no token price, as fal-ai and replicate for images).
PROVIDERS = [
    ("together", 0.18, 0.59), ("novita", 0.07, 0.28), ("fireworks-ai", 0.20, 0.60),
    ("groq", 0.05, 0.08), ("hf-inference", None, None), ("fal-ai", None, None),
    ("replicate", None, None), ("nebius", 0.13, 0.40), ("sambanova", 0.10, 0.20),
    ("cerebras", 0.10, 0.10), ("featherless-ai", None, None), ("deepinfra", 0.03, 0.05),
    ("nscale", 0.06, 0.20), ("scaleway", 0.20, 0.40), ("ovhcloud", 0.10, 0.30),
    ("cohere", 0.50, 1.50), ("hyperbolic", 0.10, 0.40), ("publicai", None, None),
    ("baseten", 0.15, 0.45), ("wavespeed", None, None), ("zai-org", 0.60, 2.20),
]
# Providers that serve chat models through the router's /v1/models (the OpenAI-compatible catalogue).
CHAT_PROVIDERS = [i for i, p in enumerate(PROVIDERS) if p[1] is not None]
IMAGE_PROVIDERS = [i for i, p in enumerate(PROVIDERS) if p[0] in ("fal-ai", "replicate", "hf-inference", "wavespeed")]

RELATIONS = ["", "finetune", "adapter", "quantized", "merge"]

# Weight formats, as bits of the `fmt` column; each maps to a tag and to files in `siblings`.
FORMATS = ["safetensors", "pytorch", "gguf", "onnx", "mlx", "openvino", "tf", "jax", "coreml"]
FMT = {name: 1 << i for i, name in enumerate(FORMATS)}

AUTHOR_SYLLABLES = ["ka", "lo", "mi", "ra", "ne", "to", "su", "vi", "an", "del", "mor", "zen", "qu", "bri",
                    "tan", "ol", "ex", "ai", "lab", "ner", "ion", "ve", "xo", "pi", "ro", "sa"]
# Every synthetic namespace starts with SYNTHETIC_PREFIX: no synthetic model can pass for a real one, and none
# sits under a real organisation (tests/test_replica_realworld.py checks both against the demo's real models).
SYNTHETIC_PREFIX = "synth-"
ORG_AUTHORS = ["synth-meridian-ai", "synth-northwind-labs", "synth-corvid-research", "synth-halcyon-ml",
               "synth-basalt-ai", "synth-pinecrest-labs", "synth-tidewater-ai", "synth-lanternfish",
               "synth-quarry-research", "synth-aurora-nlp", "synth-copperleaf", "synth-driftwood-ai",
               "synth-quantforge", "synth-ggufworks", "synth-awq-lab", "synth-mlx-port",
               "synth-embedding-guild", "synth-vision-forge", "synth-speechworks", "synth-granite-peak"]
QUANTIZERS = ["synth-quantforge", "synth-ggufworks", "synth-awq-lab", "synth-mlx-port"]
NAME_WORDS = ["Nova", "Orion", "Lumen", "Atlas", "Zephyr", "Helix", "Vega", "Quill", "Ember", "Sable",
              "Aster", "Crux", "Delta", "Flux", "Gale", "Iris", "Juno", "Kite", "Lyra", "Mosaic"]
SIZES = ["135M", "0.5B", "1B", "1.5B", "3B", "7B", "8B", "13B", "14B", "32B", "70B", "base", "large", "small"]
SIZE_PARAMS = {"135M": 135e6, "0.5B": 0.5e9, "1B": 1e9, "1.5B": 1.5e9, "3B": 3e9, "7B": 7e9, "8B": 8e9,
               "13B": 13e9, "14B": 14e9, "32B": 32e9, "70B": 70e9, "base": 110e6, "large": 340e6,
               "small": 60e6}

# Names fit their task: a task word (none for LLMs), sizes and variant words of the task's kind.
GROUP_OF_TASK = {"text-generation": "llm", "image-text-to-text": "llm", "text-to-image": "image-gen",
                 "image-to-image": "image-gen", "text-to-video": "image-gen", "automatic-speech-recognition": "speech",
                 "text-to-speech": "speech", "audio-classification": "speech"}
TASK_WORDS = {"image-text-to-text": "VL", "text-to-image": "Diffusion", "image-to-image": "Edit",
              "text-to-video": "Video", "automatic-speech-recognition": "ASR", "text-to-speech": "TTS",
              "audio-classification": "Audio", "sentence-similarity": "Embed", "feature-extraction": "Embed",
              "text-classification": "Classifier", "token-classification": "NER", "image-classification": "Vision",
              "text2text-generation": "T2T", "reinforcement-learning": "RL", "translation": "MT",
              "question-answering": "QA", "fill-mask": "MLM", "summarization": "Sum", "image-segmentation": "Seg",
              "object-detection": "Det", "zero-shot-classification": "NLI"}
SIZES_OF_GROUP = {"llm": ("135M", "0.5B", "1B", "1.5B", "3B", "7B", "8B", "13B", "14B", "32B", "70B"),
                  "image-gen": ("1B", "3B", "8B", "13B"), "speech": ("small", "base", "large"),
                  "encoder": ("small", "base", "large")}
VARIANTS_OF_GROUP = {
    "llm": ["", "Instruct", "Chat", "v2", "it", "Base", "dpo", "sft", "Preview", "v1.5"],
    "image-gen": ["", "turbo", "xl", "v2", "lightning", "refiner", "v1.5", "distilled", "hd", "mini"],
    "speech": ["", "en", "multilingual", "ctc", "v2", "turbo", "distil", "v3", "streaming", "tdt"],
    "encoder": ["", "v2", "uncased", "cased", "multilingual", "en", "finetuned", "distilled", "v1.5", "mini"]}
VARIANTS = VARIANTS_OF_GROUP["llm"]  # (the variant code indexes its group's list)
LLM_ONLY_WORDS = {"Instruct", "Chat", "it", "dpo", "sft"}
SPACE_WORDS = ["demo", "playground", "arena", "chat", "leaderboard", "studio", "compare", "gradio-app"]
