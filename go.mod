module github.com/secretfed/secretfed

go 1.26.8
