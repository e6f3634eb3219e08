# `make test` is the test command README.md gives and CI runs.
#
# Fuzzing runs a fixed number of inputs per target rather than a duration:
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" when a -fuzztime duration expires (golang/go#75804,
# fixed in Go 1.27), and a count has no wall-clock deadline. 150000 inputs
# take 2-30 s per target on a 2-core machine.
FUZZTIME ?= 150000x
# package:FuzzTarget pairs run for FUZZTIME inputs each by `make fuzz`.
FUZZ_TARGETS = \
	./eval/syntax:FuzzParseFile \
	./eval/syntax:FuzzParseExpr \
	./dag:FuzzDecodeTermBlock \
	./dag:FuzzDecodeTypeBlock \
	./dag:FuzzDecodeValue \
	./dag:FuzzLinks \
	./dag:FuzzValueLinks \
	./dag:FuzzValidateBlock \
	./dag:FuzzFastBlock \
	./dag:FuzzScanCanonical \
	./eval:FuzzWire \
	./eval:FuzzEval \
	./p2p:FuzzDecodeEvalRequest \
	./p2p:FuzzDecodeEvalReply \
	./p2p:FuzzDecodeBlocksMessage \
	./p2p:FuzzDecodeStatusMessage \
	./p2p:FuzzDecodeFetchRequest \
	./p2p:FuzzDecodeFetchReply \
	./p2p:FuzzDecodeFetchNeed \
	./p2p:FuzzServeEval \
	./p2p:FuzzDecodeChanMessage \
	./p2p:FuzzDecodeChanReply \
	./p2p:FuzzServeChan \
	./p2p:FuzzFastMessagesDecode \
	./capabilities:FuzzParseToken \
	./capabilities:FuzzDecodeToken \
	./capabilities:FuzzVerifyToken \
	./capabilities:FuzzParseSandbox

.PHONY: test check unit fuzz build bench

test: check unit fuzz

build:
	go build -o bin/unode ./cmd/unode

check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

unit:
	go test -count=1 ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
		go test $$pkg -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME); \
	done

bench:
	go test -run='^$$' -bench=. -benchtime=3x ./eval ./dag
