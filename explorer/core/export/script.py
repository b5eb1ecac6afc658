"""The text around the generated network class: imports, helpers and a training loop.

Kept apart from the generator so the exported file reads as one plain PyTorch program.
`string.Template` placeholders (`$name`) are filled by `explorer.core.export.source`.
"""

from __future__ import annotations

from string import Template

TRAINING_SCRIPT = Template('''\
"""$title

Standalone PyTorch: this file imports nothing from CNN Explorer. Input images are
float32 tensors (batch, $channels_height_width), normalised per channel with the training
set's mean and standard deviation.

$final_softmax

    python $file_name                      # train it with the project's settings
    python $file_name --weights W.pt       # load trained weights and check one batch

Weights from CNN Explorer (`main.py export --format weights`, or the .weights.pt file beside
a project saved with its weights) load with
`model.load_state_dict(torch.load(path, weights_only=True))`.
"""

import argparse
$ordered_dict
import torch
from torch import nn

INPUT_SHAPE = $input_shape  # (channels, height, width)
NUM_CLASSES = $num_classes
CLASS_NAMES = $class_names_literal


${block_classes}class $class_name(nn.Module):
    def __init__(self) -> None:
        super().__init__()
$layers
    def forward(self, x: torch.Tensor) -> torch.Tensor:
$calls        return x

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (batch, NUM_CLASSES)."""
        return torch.softmax(self.forward(x), dim=1)

    def penalty(self) -> torch.Tensor:
        """The layers' L1/L2 weight penalties, added to the loss (Keras convention)."""
$penalty


def build_model() -> $class_name:
    return $class_name()


# ---- training with the project's settings ---------------------------------------------------

DATASET = $dataset
LEARNING_RATE = $learning_rate
BATCH_SIZE = $batch_size
EPOCHS = $epochs
SEED = $seed


def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) and labels for training and test.

    torchvision supplies MNIST, Fashion-MNIST and CIFAR-10; without it (or for another
    dataset) random images stand in, so the loop still runs.
    """
    try:
        import torchvision
    except ImportError:
        torchvision = None
    sets = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
    if torchvision is None or DATASET not in sets:
        print(f"dataset {DATASET!r} needs torchvision or your own loader: using random images")
        generator = torch.Generator().manual_seed(SEED)
        images = torch.randint(0, 256, (1000, *INPUT_SHAPE), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, NUM_CLASSES, (1000,), generator=generator)
        return images[:800], labels[:800], images[800:], labels[800:]
    cls = getattr(torchvision.datasets, sets[DATASET])
    parts = []
    for train in (True, False):
        data = cls("data", train=train, download=True)
        images = torch.as_tensor(data.data)
        images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
        parts += [images.contiguous(), torch.as_tensor(data.targets)]
    return parts[0], parts[1], parts[2], parts[3]


${augment_class}def make_augmentation() -> nn.Module | None:
    """The project's per-sample augmentation of training batches (on the training device),
    or None without. It works on normalised images shifted so that 0 is black."""
$augmentation


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """The project's optimizer with its settings."""
    return torch.optim.$optimizer_class(
        model.parameters(),
        lr=LEARNING_RATE,
$optimizer_options    )


def train(model: nn.Module, epochs: int = EPOCHS) -> float:
    """Train with the project's optimizer and batch size; return the test accuracy."""
    torch.manual_seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    train_x, train_y, test_x, test_y = load_data()
    scale = train_x.float().div(255).transpose(0, 1).flatten(1)
    mean = scale.mean(1).view(1, -1, 1, 1).to(device)
    std = scale.std(1).clamp_min(1e-6).view(1, -1, 1, 1).to(device)

    def normalise(images: torch.Tensor) -> torch.Tensor:
        return (images.to(device).float() / 255 - mean) / std

    black = -mean / std  # a black pixel, normalised
    augment = make_augmentation()
    optimizer = make_optimizer(model)
    loss_function = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_x))
        for start in range(0, len(order), BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            images = normalise(train_x[index])
            if augment is not None:  # training batches only, never the test set
                with torch.no_grad():
                    images = augment(images - black) + black
            logits = model(images)
            loss = loss_function(logits, train_y[index].to(device)) + model.penalty()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(test_x), 1000):
                logits = model(normalise(test_x[start : start + 1000]))
                correct += int((logits.argmax(1).cpu() == test_y[start : start + 1000]).sum())
        accuracy = correct / max(len(test_x), 1)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a state_dict saved by CNN Explorer (.pt)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    model = build_model()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
        with torch.no_grad():
            print("output shape:", tuple(model(torch.randn(2, *INPUT_SHAPE)).shape))
    else:
        train(model, args.epochs)
        torch.save(model.state_dict(), "weights.pt")
        print("weights saved to weights.pt")
''')
