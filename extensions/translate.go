package extensions

import "errors"

// Translate turns the input into the objects to apply and the decisions behind them.
//
// Problems confined to one policy (an invalid setting, two policies selecting one workload) are
// returned as an *InputError listing each, while the Result still holds everything the problems do
// not touch: the operator applies that and reports the problems in status; the CLI refuses to print a
// partial result.
func Translate(in Input) (Result, error) {
	return Result{}, errors.New("not implemented yet")
}
