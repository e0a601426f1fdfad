"""LiveCodeBench-shaped rows for the evaluation tests (the upstream field layout and private-test encoding)."""

import base64
import json
import pickle
import zlib


def encode_private(tests: list[dict]) -> str:
    """The upstream encoding: JSON string -> pickle -> zlib -> base64."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def lcb_row(qid, date, platform, difficulty, content, public, private, starter="", func=None, encode=True):
    return {"question_title": qid, "question_content": content, "platform": platform, "question_id": qid,
            "contest_id": qid.split("_")[0], "contest_date": date, "starter_code": starter, "difficulty": difficulty,
            "public_test_cases": json.dumps(public), "private_test_cases": encode_private(private) if encode else
            json.dumps(private), "metadata": json.dumps({"func_name": func} if func else {})}
