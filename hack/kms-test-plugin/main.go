// Command kms-test-plugin serves the test KMS v2 plugin on a unix socket,
// for the e2e suite and `make bench`. Never use it to protect real data.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/secretfed/secretfed/test/kmsplugin"
)

func main() {
	socket := flag.String("socket", "/tmp/secretfed-kms.sock", "unix socket to listen on")
	keyHex := flag.String("key-hex", "", "hex AES key (32 bytes → 64 hex digits); required")
	flag.Parse()
	key, err := hex.DecodeString(*keyHex)
	if err != nil || len(key) == 0 {
		fmt.Fprintln(os.Stderr, "kms-test-plugin: --key-hex must be a hex AES key")
		os.Exit(2)
	}
	_ = os.Remove(*socket)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := kmsplugin.Serve(ctx, *socket, key); err != nil {
		fmt.Fprintln(os.Stderr, "kms-test-plugin:", err)
		os.Exit(1)
	}
}
