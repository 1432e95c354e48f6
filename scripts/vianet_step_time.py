"""CPU milliseconds per VIANet training step, one thread: the `validated` preset of DATA with
`repeat` on or off, 5 warm-up steps then STEPS timed (shuffled mini-batches of the training cases).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/vianet_step_time.py diginetica 1 30

For an A/B of two commits, run it with PYTHONPATH pointing at a git worktree of the other one."""
import sys, time
import numpy as np, torch
from via.rec.data.benchmark import load_benchmark
from via.rec.models import create_model
from via.rec.models.presets import preset_params
from via.rec.models.neural.prefix import pad_cases

torch.set_num_threads(1)
name, repeat = sys.argv[1], sys.argv[2] == "1"
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 40
data = load_benchmark(name)
params = dict(preset_params("validated", name, "vianet"), knn="none", repeat=repeat, n_epochs=1)
m = create_model("vianet", **params)
m.n_items = data.n_items
m.module = m._build_module()
d = m._prepare(data.train, None)
opt = m._make_optimizer()
rng = np.random.default_rng(0)
prefixes, targets = d.train.prefixes, d.train.targets
order = rng.permutation(len(targets))
def step(i):
    index = order[i*512:(i+1)*512]
    items, lengths = pad_cases(prefixes, index)
    bt = torch.from_numpy(targets[index].astype(np.int64))
    items = torch.from_numpy(items)
    out = m._training_outputs(items, torch.from_numpy(lengths))
    loss = m._training_loss(out, items, bt, d.sampler, rng)
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
for i in range(5): step(i)
t = time.process_time()
for i in range(5, 5 + steps): step(i)
per = (time.process_time() - t) / steps
print(f"{name} repeat={int(repeat)} d={m.embedding_dim}: {per*1000:.0f} CPU-ms/step, "
      f"epoch of {len(targets):,} cases = {per*len(targets)/512:.0f} CPU-s")
