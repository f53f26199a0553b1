"""Wire formats: RTP, RTCP, SDP, codec payload headers and ICE candidates, parsed and
written. Pure functions and value types, no state and no I/O: everything else builds on them."""
