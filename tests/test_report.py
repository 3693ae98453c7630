import json
import math

from torchdoctor.report.model import Finding, Report


def test_json_round_trip_is_strict_and_lossless():
    f = Finding(code="O001", category="optim.lr_too_high", severity="error", title="t", message="m",
                evidence={"loss_end": math.inf, "lr": 1.0}, verified={"before": 0.2, "after": 1e-6})
    f.plan_data["lr"] = 1.0
    r = Report(status="problems", findings=[f], steps_observed=10)
    text = r.to_json()
    d = json.loads(text)                               # strict JSON: no NaN/Infinity tokens
    assert "Infinity" not in text and d["findings"][0]["evidence"]["loss_end"] == "inf"
    assert list(d)[:4] == ["tool", "status", "steps_observed", "findings"]
    assert "plan_data" not in d["findings"][0]
    back = Report.from_json(text)
    assert back.findings[0].verified == {"before": 0.2, "after": 1e-6} and back.status == "problems"
    assert "lr_too_high" in str(back)
