"""Write the six evcxr notebooks (one per article, plus compare.ipynb) and, with
--execute, run them in place with the evcxr Jupyter kernel so that they are
committed with their outputs from a real execution.

    python notebooks/build.py             # write the .ipynb files (no outputs)
    python notebooks/build.py --execute   # and execute them (kernel: rust)

Each article notebook shows its spec's run from the reproduction record
(reports/reproduction/runs) when there is one, else the latest completed run under
$GANLAB_RUNS (default notebooks/runs/) or a new run of the `quick` profile there;
then it trains two labs (the article's quirk and the quirk undone) in cells. Needs
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


# The "try it" section of each article: the quirk that matters most, undone beside
# the original, each trained in the notebook for `iters` iterations (a budget CI
# affords: a few seconds to a minute per lab on 2 cores).
TRY = {
    "vanilla_mlp_keras": dict(iters=300, sets=[("undo", "[reused_g_noise]")],
        quirk="the G step trains on the same noise the D step's fakes came from "
              "(`GAN.train_on_batch(noise, label_real)` after `generator.predict(noise)`). Undone: fresh noise "
              "for the G step (`undo: [reused_g_noise]`)."),
    "tanh_cnn_sgd": dict(iters=30, sets=[("undo", "[inference_bn_fakes]")],
        quirk="the D step's fakes come from `g.predict`, which runs G's BatchNorm in inference mode on moving "
              "averages that start at 0 and 1, while G trains in training mode. Undone: the fakes with batch "
              "statistics (`undo: [inference_bn_fakes]`)."),
    "mlp_pytorch": dict(iters=300, sets=[("optim.d.kind", "adam_keras"), ("optim.g.kind", "adam_keras")],
        quirk="PyTorch's Adam (epsilon added after the bias-corrected square root). Undone: Keras's form "
              "(epsilon after the uncorrected one), as the Keras articles train."),
    "acgan": dict(iters=8, sets=[("optim.d.lr", "0.0002"), ("optim.g.lr", "0.0002")],
        quirk="the asker's learning rate 0.00005; Keras's own example trains with 0.0002. Undone: 0.0002."),
    "dcgan": dict(iters=20, sets=[("loss.bce", "clip")],
        quirk="tf.keras's cross-entropy from the sigmoid's logits. Undone: standalone Keras 2.2.4's clipped "
              "probabilities (the tutorial it follows ran on it): `loss.bce=clip`."),
}


def lab(var, spec, iters, sets):
    chain = "".join(f'.set("{k}", "{v}")?' for k, v in sets)
    return (f'let mut {var} = ganlab::notebook::Lab::new("{spec}")?.profile("quick")?'
            f'.set("train.epochs", "1")?.set("train.iters_per_epoch", "{iters}")?{chain};\n'
            f'{var}.train_iters({iters})?;')


def article(name, title, about):
    spec = f"../experiments/{name}.yaml"
    t = TRY[name]
    cells = [
        new_markdown_cell(f"# {title}\n\n{about}\n\nSpec: `experiments/{name}.yaml`. The run shown first is the "
                          "article's run from the committed reproduction record (`reports/reproduction/`) when it is "
                          "there, else the latest completed run under `$GANLAB_RUNS` (default `notebooks/runs/`) or a "
                          "new run of the `quick` profile. The last section trains in the notebook "
                          "(`ganlab::notebook::Lab`)."),
        new_code_cell(SETUP),
        new_markdown_cell("## The networks, layer by layer"),
        new_code_cell(f'ganlab::notebook::show_architecture("{spec}")?;'),
        new_markdown_cell("## The article's run"),
        new_code_cell(f'let run = ganlab::notebook::record_or_quick_run("{spec}")?;\nrun.display().to_string()'),
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
        ]
    cells += [
        new_markdown_cell(f"## Try it: the article's quirk undone\n\nThe quirk: {t['quirk']}\n\n"
                          f"Two labs from the same seed, {t['iters']} iterations each (a budget CI affords), the "
                          "original and the quirk undone. Each is a normal run directory under `$GANLAB_RUNS` "
                          "(`ganlab report` reads it, `ganlab resume` continues it). Change a setting with "
                          "`.set(key, value)` and train more with `.train_iters(n)`."),
        new_code_cell(lab("original", spec, t["iters"], [])),
        new_code_cell(lab("undone", spec, t["iters"], t["sets"])),
        new_code_cell("ganlab::notebook::show_labs(&[&original, &undone], 16)?;"),
        new_markdown_cell("D's outputs in inference mode on 200 test images and 200 samples "
                          "(`lab.d_outputs(n)` gives the values)."),
        new_code_cell('println!("original\\n{}undone\\n{}", original.d_outputs(200)?, undone.d_outputs(200)?);'),
    ]
    if name == "acgan":
        cells += [
            new_markdown_cell("## The class embedding G multiplies the noise by (one row per digit)\n\n"
                              "`Embedding(10, 100)` of the original lab's generator."),
            new_code_cell("let table100 = ganlab::notebook::latent::embedding_of(&original)?;\n"
                          "ganlab::notebook::show_embedding_table(&table100)?;"),
            new_markdown_cell(
                "## The Q&A's question: how does G know which digit to draw?\n\n"
                "The asker trained with a 2-d latent to look: G receives `h = z * embedding(label)`, and the points "
                "`h` of one digit do not gather around that digit's embedded point. So how can G tell the digits "
                "apart? Here the same ACGAN is trained with `noise.dim = 2` (the asker's pictures need it), "
                "briefly, at a budget CI affords."),
            new_code_cell(lab("latent2", spec, 30, [("noise.dim", "2")])),
            new_markdown_cell("The asker's three pictures from that generator's embedding: the embedded labels, "
                              "what they expected (each digit's points near its label), and the reality, "
                              "`z * embedding(label)` for 300 noise vectors per digit, coloured by digit."),
            new_code_cell("let table2 = ganlab::notebook::latent::embedding_of(&latent2)?;\n"
                          "ganlab::notebook::latent::show_question(&table2, 300)?;"),
            new_markdown_cell(
                "**The answer.** Each digit `c` scales the same noise box `[-1, 1]^d` by its own vector: the points "
                "of digit `c` fill the box `[-|e_c1|, |e_c1|] x ... x [-|e_cd|, |e_cd|]` evenly. They need not be "
                "near each other, only inside that box and spread as it spreads them, and that is what G can "
                "decode. In 2 dimensions the ten boxes are nested around the origin, so many points could come "
                "from several digits; in 100 dimensions a point of one digit lies inside another digit's box "
                "in all 100 dimensions almost never. The table gives how often the digit can be told from `h` "
                "alone by the best possible decoder (the digit whose box holds `h` most densely), for both "
                "embeddings; the asker's remark that 2 or 100 dimensions 'does not change anything' is what "
                "fails."),
            new_code_cell('ganlab::notebook::latent::show_answer(&[("2-d latent (latent2)", &table2), '
                          '("100-d latent (original)", &table100)], 2000)?;'),
            new_markdown_cell("What the 2-d-latent generator makes of it: the pinned evaluator's class accuracy "
                              "of its conditional samples (the digit asked for against the digit the evaluator "
                              "reads; chance is 10 %), after its short training."),
            new_code_cell("latent2.score(1000)?;\nlatent2.show_samples(100)?;"),
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
        new_markdown_cell("## The two MLP articles, trained here\n\n000 (Keras) and 002 (PyTorch) build the same "
                          "MLP sizes; they differ in D's Dropout, the initialisers, the Adam form, the batch, the "
                          "sampling and the cross-entropy. Two labs, 300 iterations each, side by side."),
        new_code_cell(lab("keras", '../experiments/vanilla_mlp_keras.yaml', 300, [])),
        new_code_cell(lab("torch", '../experiments/mlp_pytorch.yaml', 300, [])),
        new_code_cell("ganlab::notebook::show_labs(&[&keras, &torch], 16)?;"),
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


def execute(nb, timeout):
    """Run every cell of `nb` in place with the evcxr kernel, from the notebooks' folder."""
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=timeout, kernel_name="rust", resources={"metadata": {"path": HERE}}).execute()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--execute", action="store_true")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--only", default="", help="comma-separated notebook names")
    ap.add_argument("--warm", action="store_true",
                    help="only compile ganlab in the kernel (a notebook of two cells, in memory, "
                         "nothing written), so that the notebooks run later find it compiled")
    a = ap.parse_args()
    if a.warm:
        t = time.time()
        execute(new_notebook(cells=[new_code_cell(SETUP),
                                    new_code_cell("ganlab::notebook::record_or_runs().display().to_string()")]),
                a.timeout)
        print(f"ganlab compiled in the notebook kernel in {time.time() - t:.0f} s", flush=True)
        return 0
    books = [(n, article(n, t, d)) for n, t, d in ARTICLES] + [("compare", compare())]
    only = set(filter(None, a.only.split(",")))
    os.environ.setdefault("GANLAB_RUNS", "runs")  # relative to the notebooks (the kernel runs there)
    for name, cells in books:
        if only and name not in only:
            continue
        path = os.path.join(HERE, f"{name}.ipynb")
        nb = write(path, cells)
        if a.execute:
            t = time.time()
            execute(nb, a.timeout)
            nbformat.write(nb, path)
            print(f"{name}.ipynb executed in {time.time() - t:.0f} s", flush=True)
        else:
            print(f"{name}.ipynb written")


if __name__ == "__main__":
    sys.exit(main())
