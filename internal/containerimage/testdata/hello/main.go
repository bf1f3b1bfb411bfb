// Command hello is the smallest binary the image tests package: built static or dynamic.
package main

import "fmt"

func main() { fmt.Println("hello") }
