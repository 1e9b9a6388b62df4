# The two commands: `make run` (set up, build, serve with the embedded database) and
# `make test` (every test). Both install what is missing first.
.PHONY: run test
run:
	scripts/run.sh
test:
	scripts/test.sh
