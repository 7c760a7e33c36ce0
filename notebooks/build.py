"""Write the six evcxr notebooks (one per article, plus compare.ipynb) and, with
--execute, run them in place with the evcxr Jupyter kernel so that they are
committed with their outputs from a real execution.

    python notebooks/build.py             # write the .ipynb files (no outputs)
    python notebooks/build.py --execute   # and execute them (kernel: rust)

Each notebook loads the latest completed run of its spec under $GANLAB_RUNS
(default notebooks/runs/) or trains the spec's `quick` profile there. Needs
jupyter_client, nbclient and nbformat, and `evcxr_jupyter --install`.
"""
import argparse, os, sys, time

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

ARTICLES = [
    ("vanilla_mlp_keras", "000: the Keras vanilla MLP GAN",
     "Dense G and D with LeakyReLU(0.2), Dropout(0.3) in D, Adam(2e-4, 0.5), noise N(0,1); an 'epoch' is 128 iterations (the article's loop quirk)."),
    ("tanh_cnn_sgd", "001: keras-dcgan, the tanh CNN trained with SGD + Nesterov",
     "UpSampling + Conv2D generator with BatchNorm (inference-mode fakes in the D step), tanh everywhere, max-pooling D, SGD(1e-3, 0.9, nesterov)."),
    ("mlp_pytorch", "002: the PyTorch MLP GAN",
     "The same MLP sizes without dropout, PyTorch initialisation, BCELoss summed over the real and fake halves, Adam(2e-4) with PyTorch's betas."),
    ("acgan", "003: Keras mnist_acgan (ACGAN)",
     "Class embedding x noise into an UpSampling/Conv2D generator, a two-headed discriminator (real/fake and the digit), per-epoch train/test table."),
    ("dcgan", "004: the Keras DCGAN with Conv2DTranspose",
     "Conv2DTranspose(4x4, stride 2) generator, strided Conv2D discriminator with Dropout(0.4), data in [0, 1], half-batch D updates."),
]

SETUP = """:dep ganlab = { path = ".." }"""


def article(name, title, about):
    spec = f"../experiments/{name}.yaml"
    cells = [
        new_markdown_cell(f"# {title}\n\n{about}\n\nSpec: `experiments/{name}.yaml`. Every cell is one call into "
                          "`ganlab::notebook`; the run is the latest completed one under `$GANLAB_RUNS` "
                          "(default `notebooks/runs/`), or a new run of the `quick` profile."),
        new_code_cell(SETUP),
        new_markdown_cell("## The networks, layer by layer"),
        new_code_cell(f'ganlab::notebook::show_architecture("{spec}")?;'),
        new_markdown_cell("## A run"),
        new_code_cell(f'let run = ganlab::notebook::latest_or_quick_run("{spec}")?;\nrun.display().to_string()'),
        new_markdown_cell("## Loss curves and discriminator outputs"),
        new_code_cell("ganlab::notebook::show_curves(&run)?;"),
        new_markdown_cell("## Samples"),
        new_code_cell("ganlab::notebook::show_samples(&run)?;"),
        new_markdown_cell("## Metrics (polars DataFrame from `metrics.parquet`)"),
        new_code_cell("ganlab::notebook::show_frame(&ganlab::notebook::metrics(&run)?, 12)?;"),
    ]
    if name == "acgan":
        cells += [
            new_markdown_cell("## The article's per-epoch train/test table"),
            new_code_cell("ganlab::notebook::show_epoch_table(&run)?;"),
            new_markdown_cell("## The class embedding G multiplies the noise by (one row per digit)"),
            new_code_cell("ganlab::notebook::show_embedding(&run)?;"),
        ]
    return cells


def compare():
    specs = ", ".join(f'"../experiments/{n}.yaml"' for n, _, _ in ARTICLES)
    return [
        new_markdown_cell("# The five articles side by side\n\nThe latest run of each spec (or a new quick run), "
                          "all metrics in one polars DataFrame, and the curves overlaid (on one step axis, or on each run's progress when their lengths differ more than twofold)."),
        new_code_cell(SETUP),
        new_code_cell(f"let runs = ganlab::notebook::latest_runs(&[{specs}])?;\nruns.len()"),
        new_code_cell("ganlab::notebook::show_frame(&ganlab::notebook::all_metrics(&runs)?, 10)?;"),
        new_code_cell("ganlab::notebook::show_compare(&runs)?;"),
        new_markdown_cell("## Beside the article's own code\n\nRuns of the articles' own Keras and PyTorch code "
                          "(`ganlab reference`), scored by the same pinned evaluator, next to ganlab's runs of the same spec: "
                          "the verdict per metric over the seeds (the rule is in the README), quality over training with the "
                          "seed spread as a band, both engines' curves and final grids. From the committed reproduction record "
                          "(`reports/reproduction/runs`) when it is there, else from `$GANLAB_RUNS`."),
        new_code_cell("ganlab::notebook::show_engines(&ganlab::notebook::record_or_runs())?;"),
    ]


def write(path, cells):
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "rust", "display_name": "Rust", "language": "rust"},
        "language_info": {"name": "Rust", "file_extension": ".rs", "mimetype": "text/rust"},
    })
    nbformat.write(nb, path)
    return nb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--execute", action="store_true")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--only", default="", help="comma-separated notebook names")
    a = ap.parse_args()
    books = [(n, article(n, t, d)) for n, t, d in ARTICLES] + [("compare", compare())]
    only = set(filter(None, a.only.split(",")))
    os.environ.setdefault("GANLAB_RUNS", "runs")  # relative to the notebooks (the kernel runs there)
    for name, cells in books:
        if only and name not in only:
            continue
        path = os.path.join(HERE, f"{name}.ipynb")
        nb = write(path, cells)
        if a.execute:
            from nbclient import NotebookClient
            t = time.time()
            NotebookClient(nb, timeout=a.timeout, kernel_name="rust",
                           resources={"metadata": {"path": HERE}}).execute()
            nbformat.write(nb, path)
            print(f"{name}.ipynb executed in {time.time() - t:.0f} s", flush=True)
        else:
            print(f"{name}.ipynb written")


if __name__ == "__main__":
    sys.exit(main())
