import pytest
import torch

from genai_course import models
from genai_course.models import ModelLoadError, count_parameters, load_reward_classifier, load_summarizer


def test_cpu_gets_fp32_and_explicit_dtypes_are_honoured():
    cpu = torch.device("cpu")
    assert models.pick_dtype(cpu) is torch.float32
    assert models.pick_dtype(cpu, "bfloat16") is torch.bfloat16
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        models.pick_dtype(cpu, "float7")
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        models.pick_dtype(cpu, "Tensor")


def test_device_choice():
    assert models.pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert models.pick_device("auto").type in ("cpu", "mps")
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            models.pick_device("cuda")


def test_missing_local_path_suggests_the_tiny_profile(tmp_path):
    with pytest.raises(ModelLoadError, match=r"does not exist.*tiny"):
        load_summarizer(str(tmp_path / "no-model"))


def test_unreachable_hub_suggests_the_tiny_profile(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(models.AutoModelForSeq2SeqLM, "from_pretrained", offline)
    with pytest.raises(ModelLoadError, match=r"unreachable.*tiny"):
        load_summarizer("google/flan-t5-base")


def test_incomplete_folder_is_reported(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError):
        load_summarizer(str(tmp_path))


def test_count_parameters_counts_shared_weights_once():
    layer = torch.nn.Linear(4, 4)
    model = torch.nn.Sequential(layer, layer, torch.nn.Linear(4, 2))
    model[2].weight.requires_grad_(False)
    counts = count_parameters(model)
    assert counts == {"trainable": 20 + 2, "total": 20 + 10, "percent": pytest.approx(100 * 22 / 30)}


def test_tiny_models_load_through_from_pretrained(tiny_world):
    from genai_course.profiles import get_profile

    profile = get_profile("tiny")
    model, tokenizer = load_summarizer(profile)
    assert type(model).__name__ == "T5ForConditionalGeneration" and not model.training
    assert tokenizer.model_max_length == 512
    classifier, _ = load_reward_classifier(profile)
    assert type(classifier).__name__ == "RobertaForSequenceClassification"
    assert classifier.config.id2label == {0: "nothate", 1: "hate"}


def _small_t5_config():
    config = models.flan_t5_base_config()
    for name, value in {"d_model": 64, "d_kv": 16, "d_ff": 96, "num_layers": 2, "num_decoder_layers": 2}.items():
        setattr(config, name, value)
    config.num_heads, config.vocab_size = 4, 3000  # 3000 x 64 = 192,000 values: a block and a bit, repeated
    return config


def test_a_random_model_has_from_configs_layers_ties_and_dtype_and_every_weight_written():
    from transformers import AutoModelForSeq2SeqLM  # noqa: PLC0415 - the reference build, only here

    config = _small_t5_config()
    reference = AutoModelForSeq2SeqLM.from_config(config)
    for dtype in (torch.float32, torch.bfloat16):
        model = models.random_seq2seq(config, dtype=dtype, seed=3)
        shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
        assert shapes == {name: tuple(p.shape) for name, p in reference.named_parameters()}
        assert count_parameters(model) == count_parameters(reference)
        assert model.lm_head.weight is model.shared.weight is model.encoder.embed_tokens.weight  # tied again
        assert {p.dtype for p in model.parameters()} == {dtype} and not model.training
        for name, p in model.named_parameters():
            assert torch.isfinite(p).all(), name
            if "layer_norm" in name:
                assert torch.equal(p, torch.ones_like(p)), name
            else:
                assert 0.3 < float(p.detach().float().std() * p.shape[-1] ** 0.5) < 3, name  # drawn, scaled by fan-in
    again, other = models.random_seq2seq(config, seed=3), models.random_seq2seq(config, seed=4)
    assert torch.equal(again.shared.weight, models.random_seq2seq(config, seed=3).shared.weight)  # seeded
    assert not torch.equal(again.shared.weight, other.shared.weight)
    ids = torch.tensor([[5, 6, 7, 1]])
    assert torch.isfinite(again(input_ids=ids, labels=ids).loss)  # a usable model, not only a shape


def test_device_and_dtype_lets_from_pretrained_load_what_load_summarizer_loads(tiny_world):
    """Lab 1 loads with ``from_pretrained(name, dtype=dtype).to(device)``: bit for bit load_summarizer's model."""
    from transformers import AutoModelForSeq2SeqLM  # noqa: PLC0415

    from genai_course.profiles import get_profile  # noqa: PLC0415

    profile = get_profile("tiny")
    device, dtype = models.device_and_dtype(profile)
    model = AutoModelForSeq2SeqLM.from_pretrained(profile.summarizer, dtype=dtype).to(device)
    reference, _ = load_summarizer(profile)
    assert (model.device, model.dtype, model.training) == (reference.device, reference.dtype, reference.training)
    theirs = reference.state_dict()
    assert all(torch.equal(value, theirs[name]) for name, value in model.state_dict().items())
    assert models.device_and_dtype(profile, device="cpu", dtype="bfloat16") == (torch.device("cpu"), torch.bfloat16)
    with pytest.raises(ModelLoadError, match="float16"):
        models.device_and_dtype(profile, device="cpu", dtype="float16")  # T5 overflows float16
    assert models.device_and_dtype("google/flan-t5-base", device="cpu") == (torch.device("cpu"), torch.float32)
    with pytest.raises(ModelLoadError, match="does not exist"):
        models.device_and_dtype("./no-such-model")
