# Shortcuts; each target is one documented command.
.PHONY: run dev test ci bench

# The zero-setup server (SQLite in ./data, mail in the log and /dev/mailbox).
run:
	go run .

# Designer loop: templ regenerates on save, the server restarts, the proxy at
# http://localhost:7331 reloads the browser; CSS and JS edits are served
# from disk and reload too.
dev:
	LATCHKEY_DEV_ASSETS=assets go tool templ generate --watch \
		--watch-pattern='(.+\.go$$)|(.+\.templ$$)|(.+_templ\.txt$$)|(assets/[^/]+\.(css|js)$$)' \
		--cmd='go run .' --proxy=http://localhost:8080 --open-browser=false

test:
	go test ./...

ci:
	bash .ci/run

bench:
	go -C bench run .
