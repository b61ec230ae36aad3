"""The course's interactive apps, one module each; everything that imports ipywidgets lives here.

- `tokens.tokenizer_playground(text)`: chapter 01. Type text, pick a tokenizer, see its tokens.
- `attention.attention_explorer(model, tokenizer, prompt)`: chapter 03. Pick a layer and a head, see who attends to whom.
- `transfer.transfer_lab(gpt, tokenizer, sweep)`: chapter 06. Transfer k layers, fine-tune live,
  see the run land on GPT-1 Fig. 2 (left).
- `depth.depth_lab()`: chapter 07. Post-LN or pre-LN, plain or 1/√(2N) residual init, at depth: train
  short runs (in the background, with Stop) and compare their loss curves over the shipped grid of
  gptedu.experiments.depth_sweep, next to each stack's gradient norm per layer at initialisation.
- `prompt.prompt_lab()`: chapter 08. A prompt, any family size (or GPT-1, or OpenAI's GPT-2 if on disk), greedy /
  temperature / top-k / top-p; the continuation streams in coloured by probability, with the top candidates per token.
- `fewshot.fewshot_lab(task, k, size)`: chapter 10. Pick a task, K, a family size, a seed and the description; see
  the coloured prompt, the model's answer and candidate probabilities; Score N held-out queries onto GPT-3 Fig. 1.2.
- `scaling.scaling_lab()`: chapter 11. Tick which family runs enter a power-law fit, with or without the irreducible
  term, under a compute limit; see the held-out run's predicted loss with its interval; Reveal shows what it reached.
- `liveplot.LiveLossPlot`: a Trainer callback that redraws the loss curve while a run trains.
- `common`: the argument checks every app shares and `show_figure`, which puts a figure into a widget.

The apps are ipywidgets + matplotlib only (no CDN, no JavaScript of ours), so they work offline and
in any Jupyter frontend that renders ipywidgets. The rest of `gptedu` never imports this package.
"""
