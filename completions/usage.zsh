#compdef usage

_usage_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _USAGE_COMPLETE=complete_zsh usage)
}

compdef _usage_completion usage
