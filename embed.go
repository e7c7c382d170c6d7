package main

import (
	"embed"
	"io/fs"
)

//go:embed all:assets
var embeddedAssets embed.FS

// assetsFS returns the embedded assets folder.
func assetsFS() fs.FS {
	sub, err := fs.Sub(embeddedAssets, "assets")
	if err != nil {
		panic(err) // the folder is embedded at build time; cannot fail
	}
	return sub
}
