# killswitch: see README.md. Every target installs what it needs itself.
SHELL := /bin/bash
# moto_server lives in the image's pyenv Python, which a bare PATH misses.
export PATH := $(HOME)/.pyenv/shims:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# The Lambda is built without cgo; building everything else the same way lets
# the demo, the tests and the bootstrap share one build cache.
export CGO_ENABLED := 0

GO_DIRS := lambda cmd internal infra tests

.PHONY: node-deps readme-threats test unit integration lint fuzz infra-check bootstrap cli demo bench readme-settings money clean

## test: every check and test that CI runs
test: node-deps lint
	go test -count=1 -timeout 30m ./...
	$(MAKE) fuzz
	scripts/check-infra

## node-deps: npm ci when node_modules is missing or stale (the CDK CLI, and
## the IAM evaluator that internal/guard's and tests/lockdown's tests drive)
node-deps:
	scripts/node-deps

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

## lint: gofmt, go vet and staticcheck
lint:
	@unformatted=$$(gofmt -l $(GO_DIRS)); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

## fuzz: a short, bounded fuzz run of the trigger parser
fuzz:
	go test -run '^$$' -fuzz=FuzzParse -fuzztime=20s ./internal/trigger/

## bootstrap: the deployable Lambda binary (linux/arm64)
bootstrap:
	mkdir -p build/lambda
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/lambda/bootstrap ./lambda

## cli: the operator's command, build/killswitch (or: go install ./cmd/killswitch)
cli:
	mkdir -p build
	go build -trimpath -o build/killswitch ./cmd/killswitch

## demo: the whole chain locally, on emulators
demo: node-deps
	go run ./tests/demo

## bench: the speed table
bench:
	go run ./tests/bench

## money: the dollars lost before containment on each path, and the census's monthly cost
money:
	go run ./tests/money

## readme-settings: rewrite README.md's settings table from the tables of keys
readme-settings:
	go run ./infra/cmd/settingsdoc

## readme-threats: rewrite README.md's threat-model table from the lockdown evaluation's requests
readme-threats:
	go run ./tests/threatdoc

clean:
	rm -rf build cdk.out
