using TokenPool.Cli;

// tokenpool serve | simulate | channel | user | key | model | doctor — see Cli/TokenPoolCommands.cs.
// Stopping signals are the server's own to handle (drain, settle, exit 0): System.CommandLine's default would end the
// process two seconds after SIGTERM whatever is still running.
return await TokenPoolCommands.Create().Parse(args).InvokeAsync(new System.CommandLine.InvocationConfiguration { ProcessTerminationTimeout = null });
