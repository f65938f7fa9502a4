// The shop's own behaviour: product cards whose "Add to cart" buttons do nothing (dead), a buy
// button and a form that respond, an SPA link.
const grid = document.getElementById('grid')
for (let i = 0; i < 24; i++) {
  const card = document.createElement('div')
  card.className = 'card'
  card.innerHTML = `<div class="img"></div><p>Item ${i + 1}</p><button class="add" id="add-${i}">Add to cart</button>`
  grid.append(card)
}
document.getElementById('buy').addEventListener('click', () => {
  document.getElementById('status').textContent = 'Added: Trail Jacket'
})
document.getElementById('pay').addEventListener('submit', (e) => {
  e.preventDefault()
  document.getElementById('status').textContent = 'Thanks!'
})
document.getElementById('spa').addEventListener('click', (e) => {
  e.preventDefault()
  history.pushState({}, '', '/deals?page=' + Math.floor(Math.random() * 1000))
})
