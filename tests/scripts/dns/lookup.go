// lookup.go: net.LookupHost(os.Args[1]) and one line per address, for the DNS front end's test.
// Built with CGO_ENABLED=0: Go's own resolver reads /etc/resolv.conf; no NSS module is loaded.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lookup NAME")
		os.Exit(2)
	}
	addresses, err := net.LookupHost(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, address := range addresses {
		fmt.Println(address)
	}
}
