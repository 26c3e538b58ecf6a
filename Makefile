# The two commands (see README.md).  Everything real is in .ci/*.sh so CI
# and people run the very same steps.
.PHONY: run test build clean

run:
	.ci/serve.sh

test:
	.ci/test.sh

build:
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
	cmake --build build/release -j

clean:
	rm -rf build
