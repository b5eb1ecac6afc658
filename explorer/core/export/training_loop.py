"""The training part of the exported script: data, the project's settings and a loop that
runs as one process (`python model.py`) or as many under `torchrun`.

The loop means what the app's trainer means by each setting: the validation split holds out
the images CNN Explorer holds out for the seed, the learning rate of each update is the
schedule's closed form (`explorer.core.schedules`), and early stopping counts epochs without
a better validation loss and ends on the best epoch's weights. Under torchrun each update's
batch is shared out between the processes, so `batch_size` stays the images per update.
`string.Template` placeholders (`$name`) are filled by `explorer.core.export.source`.
"""

TRAINING_LOOP = '''\
# ---- training with the project's settings ---------------------------------------------------

DATASET = $dataset
LEARNING_RATE = $learning_rate
SCHEDULE = $schedule  # the rate of each update: constant, step, cosine or onecycle
STEP_SIZE = $step_size  # the step schedule: epochs between decays
GAMMA = $gamma  # the step schedule: factor of each decay
BATCH_SIZE = $batch_size  # images per update, all processes together
EPOCHS = $epochs
VALIDATION_SPLIT = $validation_split  # share of the training images held out for validation
EARLY_STOPPING_PATIENCE = $patience  # epochs without a better validation loss (0: never stop)
LABEL_SMOOTHING = $label_smoothing
SEED = $seed

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
TORCHVISION_NAMES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


# ---- one process, or one of several under torchrun -----------------------------------------


def start_processes() -> None:
    """Join the other processes when torchrun started this one (it sets RANK, WORLD_SIZE,
    LOCAL_RANK and where to meet): NCCL with one GPU per process where CUDA is available,
    else gloo on the CPU. Run as `python model.py`, this is the only process."""
    if "RANK" not in os.environ:
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def stop_processes() -> None:
    """Wait for every process to finish, then leave the group."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """This process's number and the number of processes (0 and 1 without torchrun).
    Process 0 alone prints and writes files."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def say(text: str) -> None:
    """Print from process 0 only: the others would repeat it."""
    if rank_and_world()[0] == 0:
        print(text, flush=True)


def summed(values: list[float], device: torch.device) -> list[float]:
    """Each value summed over all processes (the values themselves in one process)."""
    if rank_and_world()[1] == 1:
        return values
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return totals.tolist()


# ---- data ------------------------------------------------------------------------------------


def load_data(data_dir: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) and labels for training and test.

    MNIST and Fashion-MNIST load from their four IDX files (gzipped or not) where CNN
    Explorer or torchvision keeps them in `data_dir` (`data_dir/mnist`, `data_dir/MNIST/raw`)
    or in `data_dir` itself. Otherwise torchvision, when installed, downloads MNIST,
    Fashion-MNIST or CIFAR-10 into `data_dir` (process 0 first, the others wait for it);
    without it, or for another dataset, random images stand in so the loop still runs.
    """
    root = Path(data_dir)
    if DATASET in ("mnist", "fashion-mnist"):
        for folder in (root / DATASET, root / TORCHVISION_NAMES[DATASET] / "raw", root):
            paths = [idx_path(folder / name) for name in IDX_FILES]
            if all(paths):
                say(f"{DATASET} from {folder}")
                x, y, test_x, test_y = (read_idx(path) for path in paths)
                return x.unsqueeze(1), y.long(), test_x.unsqueeze(1), test_y.long()
    try:
        import torchvision
    except ImportError:
        torchvision = None
    if torchvision is None or DATASET not in TORCHVISION_NAMES:
        say(f"dataset {DATASET!r} needs torchvision or your own loader: using random images")
        generator = torch.Generator().manual_seed(SEED)
        images = torch.randint(0, 256, (1000, *INPUT_SHAPE), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, NUM_CLASSES, (1000,), generator=generator)
        return images[:800], labels[:800], images[800:], labels[800:]
    cls = getattr(torchvision.datasets, TORCHVISION_NAMES[DATASET])
    rank, world = rank_and_world()
    if rank > 0:
        dist.barrier()  # process 0 downloads alone
    parts = []
    for train in (True, False):
        data = cls(data_dir, train=train, download=rank == 0)
        images = torch.as_tensor(data.data)
        images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
        parts += [images.contiguous(), torch.as_tensor(data.targets)]
    if rank == 0 and world > 1:
        dist.barrier()  # the data is in place for the others
    return parts[0], parts[1], parts[2], parts[3]


def idx_path(stem: Path) -> Path | None:
    """The IDX file `stem`, gzipped or not, or None where neither is."""
    for path in (stem.with_name(stem.name + ".gz"), stem):
        if path.is_file():
            return path
    return None


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (the MNIST format: big-endian sizes, then uint8 values) as a tensor."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
        data = file.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).view(shape)


def split_validation(
    images: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training images and labels, then the VALIDATION_SPLIT held out of them: the
    images CNN Explorer holds out with this SEED, both parts in their original order."""
    held_out = round(len(images) * VALIDATION_SPLIT)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(SEED))
    kept, _ = order[: len(images) - held_out].sort()
    held, _ = order[len(images) - held_out :].sort()
    return images[kept], labels[kept], images[held], labels[held]


${augment_class}def make_augmentation() -> nn.Module | None:
    """The project's per-sample augmentation of training batches (on the training device),
    or None without. It works on normalised images shifted so that 0 is black."""
$augmentation


# ---- optimizer and schedule ------------------------------------------------------------------


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """The project's optimizer with its settings."""
    return torch.optim.$optimizer_class(
        model.parameters(),
        lr=LEARNING_RATE,
$optimizer_options    )


def learning_rate(step: int, steps_per_epoch: int, total_steps: int) -> float:
    """The learning rate of update `step` (counted from 0) of `total_steps`, as SCHEDULE
    says: step decays by GAMMA every STEP_SIZE epochs; cosine falls to 0 by the last
    update; onecycle rises from LEARNING_RATE / 25 over the first 30% of the updates, then
    falls to 1/10000 of that start (OneCycleLR's shape)."""
    progress = min(step / max(total_steps - 1, 1), 1.0)
    if SCHEDULE == "constant":
        return LEARNING_RATE
    if SCHEDULE == "step":
        return LEARNING_RATE * GAMMA ** (step // (STEP_SIZE * steps_per_epoch))
    if SCHEDULE == "cosine":
        return cosine_between(LEARNING_RATE, 0.0, progress)
    if SCHEDULE == "onecycle":
        start = LEARNING_RATE / 25
        if progress < 0.3:
            return cosine_between(start, LEARNING_RATE, progress / 0.3)
        return cosine_between(LEARNING_RATE, start / 1e4, (progress - 0.3) / 0.7)
    raise ValueError(f"unknown SCHEDULE {SCHEDULE!r}")


def cosine_between(start: float, end: float, fraction: float) -> float:
    """From `start` at fraction 0 to `end` at 1 along half a cosine."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * fraction))


# ---- the loop ----------------------------------------------------------------------------------


def train(
    model: nn.Module,
    epochs: int = EPOCHS,
    *,
    batch_size: int = BATCH_SIZE,
    data_dir: str = "data",
    limit: int | None = None,
    out: str = ".",
) -> float:
    """Train with the project's settings; return the test accuracy.

    The loop holds out VALIDATION_SPLIT of the training images (the first `limit` of them
    when given), sets each update's learning rate as SCHEDULE says and, with a validation
    part and EARLY_STOPPING_PATIENCE, stops after that many epochs without a better
    validation loss, keeping the best epoch's weights.

    Under torchrun every process holds the whole dataset and draws the same batch order;
    each batch of `batch_size` images is shared out between the processes and
    DistributedDataParallel averages their gradients, so an update is one process's update
    of the same batch: nothing is scaled, and `batch_size` and the learning rate mean what
    they mean in one process (BatchNorm's statistics are each process's share's). Process 0
    alone prints and writes `out`/weights.pt (after each epoch) and `out`/metrics.csv.

    The app's weight averaging (ema_decay), mixed precision, compile, test-time flips and
    ensembles are left out, to keep the loop short.
    """
    rank, world = rank_and_world()
    if batch_size < world:
        raise SystemExit(f"a batch of {batch_size} images cannot be shared by {world} processes")
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    torch.manual_seed(SEED + rank)  # each process its own dropout and augmentation
    model.to(device)
    train_x, train_y, test_x, test_y = load_data(data_dir)
    train_x, train_y, val_x, val_y = split_validation(train_x[:limit], train_y[:limit])
    if not len(train_x):
        raise SystemExit("no training images are left after the validation split")
    scale = train_x.float().div(255).transpose(0, 1).flatten(1)
    mean = scale.mean(1).view(1, -1, 1, 1).to(device)
    std = scale.std(1).clamp_min(1e-6).view(1, -1, 1, 1).to(device)
    black = -mean / std  # a black pixel, normalised
    augment = make_augmentation()
    devices = [device.index] if device.type == "cuda" else None
    network = DistributedDataParallel(model, device_ids=devices) if world > 1 else model
    optimizer = make_optimizer(model)
    loss_function = nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)
    # A last, partial batch that would leave a process fewer than two images is dropped
    # (BatchNorm needs two).
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    if steps_per_epoch > 1 and 0 < len(train_x) % batch_size < 2 * world:
        steps_per_epoch -= 1
    total_steps = steps_per_epoch * epochs
    order_generator = torch.Generator().manual_seed(SEED)  # the same order in every process
    stopping = EarlyStopping(EARLY_STOPPING_PATIENCE)
    path = Path(out)
    if rank == 0:
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "metrics.csv", "w", newline="") as file:
            header = ["epoch", "train_loss", "validation_loss", "validation_accuracy", "lr"]
            csv.writer(file).writerow(header)
    for epoch in range(epochs):
        network.train()
        order = torch.randperm(len(train_x), generator=order_generator)
        loss_sum, samples = torch.zeros((), device=device), 0
        for batch in range(steps_per_epoch):
            lr = learning_rate(epoch * steps_per_epoch + batch, steps_per_epoch, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # This process's share of the batch: every world-th image from its rank on.
            index = order[batch * batch_size : (batch + 1) * batch_size][rank::world]
            images = normalise(train_x[index], mean, std)
            if augment is not None:  # training batches only, never the test set
                with torch.no_grad():
                    images = augment(images - black) + black
            labels = train_y[index].to(device)
            loss = loss_function(network(images), labels)
            optimizer.zero_grad()
            (loss + model.penalty()).backward()
            optimizer.step()
            loss_sum += loss.detach() * len(index)
            samples += len(index)
        loss_total, samples = summed([float(loss_sum), samples], device)
        train_loss = loss_total / samples
        same_buffers(model)
        report = f"epoch {epoch + 1}/{epochs}: loss {train_loss:.4f}"
        validation_loss = validation_accuracy = math.nan
        if len(val_x):
            validation_loss, validation_accuracy = evaluate(model, val_x, val_y, mean, std)
            report += f", validation loss {validation_loss:.4f}, accuracy {validation_accuracy:.4f}"
        say(f"{report}, lr {lr:.3g}")
        if rank == 0:
            with open(path / "metrics.csv", "a", newline="") as file:
                row = [epoch + 1, train_loss, validation_loss, validation_accuracy, lr]
                csv.writer(file).writerow(row)
            torch.save(model.state_dict(), path / "weights.pt")
        if len(val_x) and stopping.should_stop(validation_loss, model):
            say(f"early stop: no better validation loss for {stopping.patience} epochs")
            stopping.restore_best(model)
            if rank == 0:
                torch.save(model.state_dict(), path / "weights.pt")
            break
    _, accuracy = evaluate(model, test_x, test_y, mean, std)
    say(f"test accuracy {accuracy:.4f}")
    return accuracy


class EarlyStopping:
    """Stops after `patience` epochs without a lower validation loss (0: never), keeping the
    weights of the best epoch."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = math.inf
        self.epochs_without_improvement = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def should_stop(self, validation_loss: float, model: nn.Module) -> bool:
        """Count one epoch's validation loss; whether training stops here."""
        if not self.patience:
            return False
        if validation_loss < self.best_loss:
            self.best_loss, self.epochs_without_improvement = validation_loss, 0
            self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.epochs_without_improvement += 1
        return self.epochs_without_improvement >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        if self.best_weights is not None:  # None when no validation loss was finite
            model.load_state_dict(self.best_weights)


def same_buffers(model: nn.Module) -> None:
    """Give every process process 0's buffers (BatchNorm's running statistics, which each
    process keeps from its own share), so all evaluate and save the same network."""
    if rank_and_world()[1] > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 on the device of `mean` and `std` (per channel, 0..1 scale)."""
    return (images.to(mean.device).float() / 255 - mean) / std


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
) -> tuple[float, float]:
    """The mean cross-entropy and the accuracy on uint8 `images`; each process measures its
    own chunks of 1000 and the totals are summed over all of them."""
    rank, world = rank_and_world()
    device = mean.device
    model.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for start in range(1000 * rank, len(images), 1000 * world):
            logits = model(normalise(images[start : start + 1000], mean, std))
            target = labels[start : start + 1000].to(device)
            loss += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += float((logits.argmax(1) == target).sum())
    loss, correct = summed([loss, correct], device)
    return loss / max(len(images), 1), correct / max(len(images), 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a state_dict saved by CNN Explorer (.pt)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="images per update")
    parser.add_argument("--data-dir", default="data", help="where the dataset is (or goes)")
    parser.add_argument("--limit", type=int, help="train on the first LIMIT training images only")
    parser.add_argument("--out", default=".", help="the folder for weights.pt and metrics.csv")
    args = parser.parse_args()
    torch.manual_seed(SEED)  # the same first weights in every process
    model = build_model()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
        with torch.no_grad():
            print("output shape:", tuple(model(torch.randn(2, *INPUT_SHAPE)).shape))
    else:
        start_processes()
        train(
            model,
            args.epochs,
            batch_size=args.batch_size,
            data_dir=args.data_dir,
            limit=args.limit,
            out=args.out,
        )
        say(f"weights saved to {Path(args.out) / 'weights.pt'}")
        stop_processes()
'''
