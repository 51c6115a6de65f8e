"""Asset checks, per stage: Great Expectations suites and cheap SQL invariants."""
