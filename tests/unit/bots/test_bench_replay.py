"""The fixed replay behind ``python -m bench --only instructions``: it forwards through the
real path (SRTP both ways, real UDP sockets) and every packet it counts reaches the sink."""

from __future__ import annotations

import asyncio

from bench.instructions import _stages, lines
from bench.replay import replay


def test_every_forwarded_packet_reaches_the_receivers() -> None:
    result = asyncio.run(replay(publishers=3, steps=60, total_steps=60))
    # Audio from the start, video from the first keyframe on, to both other participants.
    assert result["forwarded"] > result["received"]
    assert result["sink_rtp"] == result["forwarded"]
    assert result["sink_rtcp"] > 0


def test_stages_read_from_callgrind_annotate() -> None:
    annotated = """\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
2,706,526,461 (96.79%)  /x/Python/ceval.c:_PyEval_EvalFrameDefault
  236,520,289 ( 8.46%)  /project/libsrtp.source/srtp/srtp.c:srtp_protect [/a/_binding.abi3.so]
   52,394,573 ( 1.87%)  /project/libsrtp.source/srtp/srtp.c:srtp_unprotect [/a/_binding.so]
   14,952,716 ( 0.53%)  /x/Modules/socketmodule.c:sock_sendto
   14,952,716 ( 0.53%)  x/Modules/socketmodule.c:sock_sendto [/b/_socket.so]
"""
    assert _stages(annotated) == {
        "srtp_protect": 236520289,
        "srtp_unprotect": 52394573,
        "sock_sendto": 14952716,
    }
    assert "skipped" in lines({"skipped": "valgrind is not installed"})[0]
