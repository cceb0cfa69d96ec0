"""The one `expand` set hubdex's full and incremental crawls ask `/api/models` for.

Everything hubdex stores about a model must come from its listing page: a full pass of millions of
models can afford ceil(N/1000) listing requests, never one request per model. So the set names every
field the crawl stores (metadata, downloads and likes, licence via tags and cardData, files, base-model
relations, Spaces, inference providers, parameter counts, config, evaluation results), and nothing it does not.
The replica's serving benchmark uses the same set, so it measures what a crawl will ask for.
"""

CRAWL_EXPAND = [
    "author", "sha", "lastModified", "createdAt", "private", "gated", "disabled",
    "downloads", "downloadsAllTime", "likes", "trendingScore",
    "tags", "pipeline_tag", "library_name", "cardData", "config", "transformersInfo",
    "siblings", "spaces", "safetensors", "gguf", "baseModels", "childrenModelCount",
    "inferenceProviderMapping", "usedStorage",
    # evaluation results (.eval_results/*.yaml): with the listing, so no request per model
    "evalResults",
]
