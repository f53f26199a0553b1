"""Mosaic on every core and every machine: workers that share live state through Redis.

Without ``--redis-url`` nothing here is imported at run time and Mosaic is the single
process it always was. With it, each worker announces itself and its load (`registry`),
meetings get one home worker each (`placement`), workers talk over pub/sub (`bus`), and a
supervisor runs several workers behind one port (`workers`). Every Redis key is spelled in
`keys`, and nowhere else.
"""
