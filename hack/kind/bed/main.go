// Command bed brings the e2e suite's kind bed up and leaves it running, or
// deletes it: `make run PROVIDER=kind` runs `bed up`, `make down
// PROVIDER=kind` runs `bed down`. It is the kind provider of test/e2e
// (framework.Setup with E2E_PROVIDER=kind), so the bed a developer pokes at
// is the one the suite tests: host and members as kind clusters, secretfed
// installed from artifacts/deploy, members joined at in-network endpoints.
//
// Environment: the kind provider's (hack/kind/README.md); `make` sets
// E2E_KIND_PREFIX=secretfed-run and E2E_KIND_DIR=_output/kind-run so a
// running bed and an e2e run never share clusters.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/secretfed/secretfed/test/e2e/framework"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: bed up|down")
		os.Exit(2)
	}
	var err error
	if os.Args[1] == "up" {
		err = up()
	} else {
		err = down()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "[kind-bed] ERROR:", err)
		os.Exit(1)
	}
}

func up() error {
	os.Setenv("E2E_PROVIDER", "kind")
	// A second `make run` reuses the clusters; the bed stays up either way.
	if os.Getenv("E2E_KIND_REUSE") == "" {
		os.Setenv("E2E_KIND_REUSE", "1")
	}
	os.Setenv("E2E_KEEP", "1")
	f, err := framework.Setup()
	if err != nil {
		return err
	}
	if err := f.JoinMembers(); err != nil {
		return err
	}
	// hack/run.sh reads this file to go on as for the local bed.
	fmt.Println(filepath.Join(f.Env["KIND_DIR"], "env"))
	return nil
}

func down() error {
	deleted, err := framework.DeleteKindBed(os.Getenv)
	for _, name := range deleted {
		fmt.Fprintf(os.Stderr, "[kind-bed] deleted kind cluster %s\n", name)
	}
	if len(deleted) == 0 && err == nil {
		fmt.Fprintln(os.Stderr, "[kind-bed] no kind cluster of this bed exists")
	}
	return err
}
