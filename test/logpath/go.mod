module github.com/autotel/autotel/test/logpath

go 1.26.0
