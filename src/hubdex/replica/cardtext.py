"""README.md model cards for synthetic models: YAML front matter, sections, a results table, code.

The text is a pure function of the row and its version, so an update (new version) changes the
card and nothing else does. Real cards (fixtures) and the demo's hand-written cards are served as
stored; this module only writes the synthetic ones.
"""

from __future__ import annotations

import yaml

from . import leagues, render
from .store import Store


def synthetic_card(store: Store, row: int, version: int | None = None) -> bytes:
    page = render.Page(store, [row], listing=False, version=version)
    data = render.card_data(page, 0)
    model_id = store.written_id(row)  # the text was written before any rename
    name = model_id.split("/")[-1]
    pipe = data.get("pipeline_tag") or "feature-extraction"
    lib = data.get("library_name") or "transformers"
    version = page.c["version"][0]
    front = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).strip()
    parts = [f"---\n{front}\n---\n", f"# {name}\n",
             f"{name} is a {pipe.replace('-', ' ')} model"
             + (f" fine-tuned from [{data['base_model']}](https://huggingface.co/{data['base_model']})"
                if "base_model" in data else "") + f". Revision {version} of this card.\n",
             "## Model description\n",
             f"- **Developed by:** {model_id.split('/')[0]}\n- **Model type:** {render._model_type(page, 0)}\n"
             f"- **Library:** {lib}\n- **License:** {data.get('license', 'not specified')}\n",
             "## Intended uses & limitations\n",
             f"Use it for {pipe.replace('-', ' ')}. It is not intended for medical, legal or safety-critical "
             "decisions, and it may reproduce biases present in its training data.\n",
             "## Training data\n",
             f"Trained on {', '.join(data.get('datasets', ['a private corpus']))}.\n",
             "## How to use\n",
             f"```python\nfrom transformers import pipeline\n\npipe = pipeline(\"{pipe}\", model=\"{model_id}\")\n"
             "print(pipe(\"Hello world\"))\n```\n"]
    mi = data.get("model-index")
    if mi:
        parts.append("## Evaluation results\n")
        parts.append("| Dataset | Split | Metric | Value |\n|---|---|---|---|\n")
        for res in mi[0]["results"]:
            for m in res["metrics"]:
                parts.append(f"| {res['dataset']['name']} | {res['dataset'].get('split', '')} | {m['type']} "
                             f"| {m['value']} |\n")
    league = int(store.cols["league"][row])
    rivals = leagues.rivals(store, row, league) if league >= 0 else []
    if rivals:  # a table that names rival models in its rows, as comparison tables on real cards do
        parts.append("## Comparison with similar models\n")
        parts.append(f"Scores on {leagues.benchmark(store, league)} (test split).\n")
        parts.append("| Model | F1 |\n|---|---|\n" + "".join(
            f"| {store.written_id(r)} | {leagues.score(r, league)} |\n" for r in [row] + rivals))
    if version:
        parts.append(f"\n## Changelog\n\n- v{version}: refreshed evaluation and files.\n")
    return "\n".join(parts).encode()
