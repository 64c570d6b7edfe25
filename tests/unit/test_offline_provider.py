import io

import pytest
from PIL import Image
from pydantic import BaseModel

from leadmagnet.common.errors import PermanentError
from leadmagnet.common.providers import OfflineProvider, register_offline_builder
from leadmagnet.common.providers.base import ImageRequest, TextRequest


class Answer(BaseModel):
    value: str


async def test_text_is_a_labelled_deterministic_draft() -> None:
    p = OfflineProvider()
    request = TextRequest(
        system="s", prompt='Write.\n```json\n{"name": "Ada", "goal": "more leads"}\n```'
    )
    a = await p.generate_text(request)
    b = await p.generate_text(request)
    assert a.text == b.text
    assert "Draft generated offline" in a.text
    assert "Ada" in a.text
    assert "more leads" in a.text
    assert a.cost.cost_micros == 0
    assert a.cost.provider == "offline"


async def test_structured_output_uses_registered_builders() -> None:
    p = OfflineProvider()
    with pytest.raises(PermanentError, match="Answer"):
        await p.generate_text(TextRequest(system="s", prompt="p", output_model=Answer))
    register_offline_builder(Answer, lambda req: Answer(value=req.prompt.upper()))
    result = await p.generate_text(TextRequest(system="s", prompt="p", output_model=Answer))
    assert result.parsed == Answer(value="P")


async def test_placeholder_images_are_real_pictures_of_the_requested_size() -> None:
    result = await OfflineProvider().generate_image(
        ImageRequest(prompt="can", size="1200x628", palette=["#ff6b35", "#004e89"], label="ad")
    )
    with Image.open(io.BytesIO(result.data)) as im:
        assert im.format == "PNG"
        assert im.size == (1200, 628)
        colours = im.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None
    assert len(colours) > 10  # a drawing, not a blank
    with pytest.raises(PermanentError):
        await OfflineProvider().generate_image(ImageRequest(prompt="x", size="big"))
