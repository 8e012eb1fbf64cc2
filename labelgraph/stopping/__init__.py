"""When the loop ends: stop rules as objects with ``stop(end)`` (as small-text's stopping criteria), read after each
round's train; the first rule that fires names the reason."""
