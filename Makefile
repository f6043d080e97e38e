# CML Cloud Manager — see README.md. `make run` and `make test` install what
# they need by themselves.
SHELL := /bin/bash
GO ?= go
ADDR ?= 127.0.0.1:8080
DATA ?= ./.cmlcm
ENV ?= all
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
LAMBDAS := $(patsubst lambdas/%/main.go,%,$(wildcard lambdas/*/main.go))
BUILD := build
CDK_VERSION := 2.1148.1
CDK := .tools/cdk-$(CDK_VERSION)/node_modules/.bin/cdk

.PHONY: all run test bench build synth deploy destroy lint fmt deps clean

all: build

deps: ## install Go modules and the pinned Python tools into .venv
	@scripts/deps.sh

run: deps ## run the product locally on the embedded store and the sandbox cloud
	@scripts/web.sh build
	$(GO) run ./cmd/cmlcm serve --addr $(ADDR) --data $(DATA)

test: ## run every test (starts and stops the services the tests use)
	@scripts/test.sh

bench: deps ## run the benchmarks and print their figures
	@scripts/bench.sh

build: ## build every Lambda bootstrap (linux/arm64) and zip it under build/lambda
	@mkdir -p $(BUILD)/lambda
	@for fn in $(LAMBDAS); do \
		echo "build lambda $$fn"; \
		mkdir -p $(BUILD)/lambda/$$fn; \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o $(BUILD)/lambda/$$fn/bootstrap ./lambdas/$$fn || exit 1; \
		(cd $(BUILD)/lambda/$$fn && rm -f ../$$fn.zip && python3 -m zipfile -c ../$$fn.zip bootstrap) || exit 1; \
	done

synth: deps build ## synthesize the CDK app offline into build/cdk.out (ENV=dev for one environment), linted
	@LINT=1 ENV=$(ENV) scripts/synth.sh

$(CDK):
	npm install --prefix .tools/cdk-$(CDK_VERSION) --no-audit --no-fund --silent aws-cdk@$(CDK_VERSION)

deploy: build $(CDK) ## deploy one environment: make deploy ENV=dev
	@case "$(ENV)" in ""|all) echo "make deploy ENV=<dev|prod>: one environment at a time"; exit 1;; esac
	@scripts/web.sh build
	$(CDK) deploy -c env=$(ENV) --all $(CDK_FLAGS)

destroy: $(CDK) ## delete one environment's stacks (prod keeps its data)
	@case "$(ENV)" in ""|all) echo "make destroy ENV=<dev|prod>"; exit 1;; esac
	$(CDK) destroy -c env=$(ENV) --all

lint: ## go vet plus staticcheck (pinned)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed: make fmt"; exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go')

clean:
	rm -rf $(BUILD)
